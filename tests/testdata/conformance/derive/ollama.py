# Derives the OpenAI-side expectations for every Ollama fixture (see ../README.md): the native
# /api/chat ones (ollama.json) and those of Ollama's OpenAI-compatible route (ollama-openai.json).
import json, os, re
HERE=os.path.dirname(os.path.abspath(__file__))
D=os.path.join(HERE, '../../providers/ollama')
man=json.load(open(f'{D}/manifest.json'))
def usage(d):
    p=d.get('prompt_eval_count',0); c=d.get('eval_count',0)
    return {'prompt_tokens':p,'completion_tokens':c,'total_tokens':p+c,'cached_tokens':0}
def calls_of(m):
    out=[]
    for t in m.get('tool_calls',[]):
        a=t['function'].get('arguments',{})
        c={'name':t['function']['name'],'arguments':a if isinstance(a,str) else json.dumps(a,separators=(',',':'))}
        if t.get('id'): c['id']=t['id']
        out.append(c)
    return out
def finish(d, calls):
    return 'length' if d.get('done_reason')=='length' else ('tool_calls' if calls else 'stop')
def expect_ndjson(text):
    content=''; calls=[]
    for line in text.splitlines():
        if not line.strip(): continue
        d=json.loads(line)
        if 'error' in d: return {'content':content,'tool_calls':calls,'stream_error':{'message':d['error']}}
        m=d.get('message',{}); content+=m.get('content',''); calls+=calls_of(m)
        if d.get('done'): return {'content':content,'tool_calls':calls,'finish_reason':finish(d,calls),'usage':usage(d)}
    raise Exception('no done line')
def expect_body(text):
    d=json.loads(text); m=d['message']; calls=calls_of(m)
    return {'content':m.get('content',''),'tool_calls':calls,'finish_reason':finish(d,calls),'usage':usage(d)}
WEATHER={"type":"function","function":{"name":"get_weather","description":"Get the weather in a given city","parameters":{"type":"object","properties":{"city":{"type":"string","description":"The city to get the weather for"}},"required":["city"]}}}
REQ={
 'chat': {"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"why is the sky blue?"}],"temperature":0.7,"top_p":0.9,"max_tokens":128,"stop":["\n\n\n"],"seed":101},
 'chat_stream': {"messages":[{"role":"user","content":"why is the sky blue?"}],"stream":True},
 'tool_call': {"messages":[{"role":"user","content":"what is the weather in tokyo?"}],"tools":[WEATHER]},
 'tool_call_stream': {"messages":[{"role":"user","content":"what is the weather in tokyo?"}],"tools":[WEATHER],"stream":True},
 'tool_result': {"messages":[{"role":"user","content":"what is the weather in Toronto?"},{"role":"assistant","content":"","tool_calls":[{"id":"call_toronto","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Toronto\"}"}}]},{"role":"tool","tool_call_id":"call_toronto","content":"11 degrees celsius"}],"tools":[WEATHER]},
 'openai_chat': {"messages":[{"role":"user","content":"Say this is a test"}]},
 'openai_chat_stream': {"messages":[{"role":"user","content":"Say this is a test"}],"stream":True},
}
ERR={400:('invalid_request_error',None),404:('not_found_error','model_not_found'),500:('server_error',None)}
native=[]; compat=[]
for f in man['fixtures']:
    name=f['name']
    if name=='tags': continue
    body=open(f"{D}/{f['response']}").read()
    openai_route=f['path']=='/v1/chat/completions'
    stream=f['response'].endswith('.ndjson') or f['response'].endswith('.sse')
    case={'fixture':name,'openai':REQ.get(name) or {"messages":[{"role":"user","content":"Hello"}],"stream":stream}}
    up={'method':'POST','path':f['path']}
    if f.get('request'):
        up['body']=f['request']
        # Ollama streams unless told otherwise, so aimarket always says; some captured requests do not.
        up['ignore']=['model','stream']
        if openai_route: up['ignore'].append('stream_options')
    case['upstream']=up
    if f['status']!=200:
        if openai_route:
            e=json.loads(body)['error']
            case['expect']={'error':{'status':f['status'],'type':e['type'],'code':e['code'],'message':e['message']}}
        else:
            typ,code=ERR[f['status']]
            case['expect']={'error':{'status':f['status'],'type':typ,'code':code,'message':json.loads(body)['error']}}
    elif openai_route:
        if stream:
            content=''; fin=None; u=None
            for block in re.split(r'\n\n', body):
                if not block.startswith('data: ') or block[6:].strip()=='[DONE]': continue
                d=json.loads(block[6:])
                if d.get('usage'): u={'prompt_tokens':d['usage']['prompt_tokens'],'completion_tokens':d['usage']['completion_tokens'],'total_tokens':d['usage']['total_tokens']}
                for c in d['choices']:
                    content+=c['delta'].get('content') or ''; fin=c.get('finish_reason') or fin
            case['expect']={'content':content,'tool_calls':[],'finish_reason':fin,'usage':u}
        else:
            d=json.loads(body); m=d['choices'][0]['message']
            case['expect']={'content':m.get('content') or '','tool_calls':[{'id':t['id'],'name':t['function']['name'],'arguments':t['function']['arguments']} for t in m.get('tool_calls',[])],'finish_reason':d['choices'][0]['finish_reason'],'usage':{k:d['usage'][k] for k in ('prompt_tokens','completion_tokens','total_tokens')}}
    elif stream: case['expect']=expect_ndjson(body)
    else: case['expect']=expect_body(body)
    (compat if openai_route else native).append(case)
json.dump({'provider':'ollama','config':{'type':'ollama'},'cases':native},open(os.path.join(HERE,'../ollama.json'),'w'),indent=1,ensure_ascii=False)
json.dump({'provider':'ollama-openai','fixtures':'ollama','config':{'type':'openai-compatible','base_path':'/v1'},'cases':compat},open(os.path.join(HERE,'../ollama-openai.json'),'w'),indent=1,ensure_ascii=False)
for c in native+compat: print(c['fixture'], json.dumps(c['expect'])[:150])
